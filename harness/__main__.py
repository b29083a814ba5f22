"""`python -m harness` is the `nas-harness` command."""

import sys

from harness.cli import main

sys.exit(main())
