"""reidkit.detect"""
