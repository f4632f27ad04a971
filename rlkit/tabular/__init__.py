"""rlkit.tabular"""
