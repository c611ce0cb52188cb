"""Ask: a small local language model plans and runs the app's own tools, valid by construction.

- :mod:`.tools`     every operation as a callable with a JSON schema derived from the API's own specs
- :mod:`.planner`   one model turn under constrained decoding: a call that matches a tool's schema, or an answer
- :mod:`.loop`      plan -> run -> feed back -> answer, with step and time limits, Stop, and conversation state
- :mod:`.writing`   smaller uses of the same model: prompt expansion and a report card's summary
- :mod:`.evaluate`  ``python -m fusion evaluate-agent``: plan accuracy over a committed set of requests
"""
