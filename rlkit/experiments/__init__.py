"""rlkit.experiments"""
