"""``python -m frmdn``: see :mod:`frmdn.cli.main`."""

import sys

from frmdn.cli.main import main

sys.exit(main())
