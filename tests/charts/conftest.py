"""The chart tests share their hand-built reports (chart_reports.py).

The suite runs with --import-mode=importlib (no sys.path changes): put this directory on
sys.path so the test modules can import chart_reports by name, as tests/deploy does.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
