"""Headers the API's answers carry beyond HTTP's own. Plain strings: Serve's proxy reads them (serving/proxy.py)
and imports this module, so it imports nothing."""

# On a 503 whose question was refused for overload (not for a store outage or a start), while early refusals are
# on: Serve's proxy refuses the next questions itself with the same answer while the service stays full. Its
# value is always "1".
OVERLOADED = "X-Overloaded"
