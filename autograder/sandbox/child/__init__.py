"""The untrusted side of the door: everything that runs in the sandbox, one job per module.

This package imports only the standard library and torch -- never the rest of ``autograder``, the
reference solution, or the checks -- so it can run where none of those are visible: bubblewrap
binds this folder alone (at ``/sandbox/child``) and starts ``__main__.py``.

- ``codec``: framing and the pickle-free encoding of messages (JSON header + raw tensor bytes);
- ``importer``: serves the student's modules from source text, under every name they import them by;
- ``audit``: the snapshot of global state that decides whether a child may serve another component;
- ``describe``: what a module is made of -- the one description, which the public rules read too;
- ``server``: the request loop -- load a component, build/load/run/describe modules, call functions;
- ``limits``: rlimits, seccomp and prctl, applied after the fork;
- ``reaper``: killing and reaping everything a child left behind, and wiping its scratch space;
- ``zygote``: the fork server: imports torch once, forks a child per request.

The parent imports ``codec`` (to speak the same format) and nothing else from here.
"""
