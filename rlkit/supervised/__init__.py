"""rlkit.supervised"""
