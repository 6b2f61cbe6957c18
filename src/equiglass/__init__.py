"""equiglass: Kob–Andersen simulations, propensities and SE(3)-equivariant GNNs for glassy liquids."""

__version__ = "0.1.0"
