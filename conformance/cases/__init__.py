"""The cases, one module per area of the spec; every module registers its
cases with conformance.registry.case when imported."""
