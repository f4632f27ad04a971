"""rlkit.mdp"""
