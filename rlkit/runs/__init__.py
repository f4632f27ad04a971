"""rlkit.runs"""
