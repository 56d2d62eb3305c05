"""Run the evalspec command line: `python -m evalspec`."""

from evalspec.cli import main

raise SystemExit(main())
