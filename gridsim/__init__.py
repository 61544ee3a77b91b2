"""gridsim — 史河街道网格化服务管理的规划与模拟工具.

Models the 2024 implementation plan of 史河街道 (史河街政办〔2024〕2号): grid limits, pay,
visits, monthly assessment and publicity, over a validated register of homes.
"""

__version__ = "0.1.0"
