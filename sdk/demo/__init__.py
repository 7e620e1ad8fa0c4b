"""The demo workload (``streamscope demo``): simulated users streaming from fake models, traced by the SDK.

It shows every feature of the dashboard and the Grafana dashboards with data: several models with different
latency profiles, ``prompt | model | parser`` chains, a streaming agent with tools, raw ``openai`` streams,
stalls, abandoned and cancelled streams, timeouts, dropped connections, 500s and retried 429s.
"""

from streamscope.demo.profiles import PROFILES, Profile
from streamscope.demo.runner import DemoConfig, DemoStats, run_demo
from streamscope.demo.scenes import SCENES

__all__ = ["PROFILES", "SCENES", "DemoConfig", "DemoStats", "Profile", "run_demo"]
