"""Every run kept: `store` (the results store: an SQLite file by default, a server database by
URL), `revisions` (which source revision each implementation ran at), `imported` (a run
directory into the store), `steps` (level changes in a trend), `trends` (the offline trend page
and its PNGs) and `gate` (a run against a baseline, for CI). Reads run directories and the store,
never runs a kernel; it sits above `reports`, whose page style it shares, and below the doors."""
