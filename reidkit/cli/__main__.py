import sys

from reidkit.cli import main

sys.exit(main())
