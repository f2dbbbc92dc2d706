import sys

from interplay.cli import main

sys.exit(main())
