"""``python -m frmdn``: see :mod:`frmdn.cli`."""

import sys

from frmdn.cli import main

sys.exit(main())
