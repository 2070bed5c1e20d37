"""fc-codes: activation, invite and coupon codes on Function Compute and Tablestore.

The FC handler modules (`gen_code`, `use_code`, `query_code`, `del_code`) are thin adapters over
`fccodes.app`; the layers below point one way: app -> service -> store (the only module that
imports `tablestore`).
"""
