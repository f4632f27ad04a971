"""rlkit.envs"""
