"""reidkit.train"""
