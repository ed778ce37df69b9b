"""Plugins that ship with assistant; each sub-package registers through the `assistant.plugins` entry point."""
