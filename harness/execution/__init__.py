"""Where tasks run: `tasks` (the task protocol, run_tasks, this process), `isolate` (worker
processes with time and memory limits, crash and hang made into records), `parallel` (lanes on
every core), `cluster` (Ray), `executors` (the one a door's options pick), and `runs` (a whole
check or bench: tasks built and handed to an executor). Imports `timing` and below."""
