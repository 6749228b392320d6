"""`python -m bv_sim`: see bv_sim.cli."""

import sys

from bv_sim.cli import main

sys.exit(main())
