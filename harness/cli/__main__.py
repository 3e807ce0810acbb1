"""`python -m harness.cli` is `certchaos`."""

import sys

from harness.cli.main import main

sys.exit(main())
