"""`python -m harness` is the convharness command."""
import sys

from harness.doors.cli import main

sys.exit(main())
