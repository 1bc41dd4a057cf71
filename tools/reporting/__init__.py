"""Reporting: tables, charts, timelines and the HTML page from the recorded builds."""
