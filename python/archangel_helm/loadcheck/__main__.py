import sys

from archangel_helm.loadcheck.command import main

sys.exit(main())
