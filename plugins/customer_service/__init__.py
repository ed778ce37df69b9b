"""Northwind Goods customer-service plugin: order flows, answers quoted from help pages, human handoff."""

from plugins.customer_service.plugin import CustomerServicePlugin

__all__ = ["CustomerServicePlugin"]
