"""rlkit.agents"""
