"""localdev: fc-codes on one machine, without a cloud account or Docker.

`make run` (`python -m localdev run`) serves template.yml's API Gateway routes and Function
Compute's invoke API on 127.0.0.1, in front of the functions running in local FC-like instances
over the local Tablestore server (`ots_local`). `make invoke` (`python -m localdev invoke`) runs
one function once, like `fun local invoke`. See docs/localdev.md.

Layout: `project` reads the template; `fc_worker` is the instance process (Python 3.6
compatible); `instances` starts and pools instances; `gateway` and `fcapi` turn HTTP into
invocations; `server` is the listener; `store` owns `.local/`; `stack` and `cli` put it together.
"""
