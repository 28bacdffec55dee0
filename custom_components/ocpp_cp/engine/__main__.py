"""``python -m custom_components.ocpp_cp.engine``: the charge-point simulator."""

from .simulator import main

raise SystemExit(main())
