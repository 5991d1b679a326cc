import sys

from shadow_optic.cli import main

sys.exit(main())
