"""reidkit.models"""
