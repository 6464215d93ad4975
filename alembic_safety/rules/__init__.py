"""The rule registry, with every rule module imported so that its rule is registered.

One module per rule; codes are permanent (families: 1xx locking/rewrites, 2xx breaking changes,
3xx data loss, 4xx transactions, 5xx data migrations, 6xx history, 9xx analysis limits).
"""

from __future__ import annotations

from alembic_safety.rules import (  # noqa: F401  (imported for registration)
    add_check_constraint_validated,
    add_column_volatile_default,
    add_foreign_key_validated,
    add_generated_or_identity_column,
    add_not_null_column,
    add_primary_key,
    add_unique_constraint,
    concurrently_in_transaction,
    create_index_non_concurrently,
    delete_all_rows,
    drop_column,
    drop_index_non_concurrently,
    drop_table,
    multiple_heads,
    online_data_access,
    rename_column,
    rename_table,
    rewriting_type_change,
    set_not_null,
    suppression_rules,
    truncate_table,
    unparseable_sql,
    update_without_where,
)
from alembic_safety.rules.base import Rule, registry

__all__ = ["Rule", "registry"]
