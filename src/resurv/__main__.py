"""``python -m resurv``: the command line of the ``resurv`` script (:func:`resurv.cli.main`)."""

import sys

from resurv.cli import main

sys.exit(main())
