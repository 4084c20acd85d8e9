"""The bulk catalog queries introspection runs: one per concern, for all tables at once.

Every query starts from the same ``rels`` CTE, which picks the relations a
source serves, so each query covers every selected table in one round trip
and the number of queries does not depend on the number of tables.

What ``rels`` selects, deliberately:

* ordinary tables (``relkind 'r'``) and partitioned tables (``'p'``) as one
  table each; their partitions (``relispartition``) are skipped, because
  reading the parent returns the partitions' rows;
* in the schemas named by the ``schemas`` option, or else every schema but
  the system ones (``pg_catalog``, ``information_schema``, ``pg_toast*``,
  ``pg_temp_*``);
* not tables that belong to an extension (PostGIS' ``spatial_ref_sys`` is
  recreated by the extension, not copied), and not bani-flight's own
  bookkeeping tables;
* views, materialised views, foreign tables and sequences are not tables
  and are not selected.

Parameters are bound: ``schemas`` and ``tables`` are ``text[]`` or NULL.  The
texts are constants assembled at import time from constants (hence the
``noqa: S608``: nothing from outside ever reaches them).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "COLUMNS",
    "SEARCH_PATH",
    "CONSTRAINTS",
    "ENUM_TYPES",
    "INDEXES",
    "TABLES",
    "TARGET_COLUMNS",
    "TARGET_IDENTITY_COLUMNS",
]

_SYSTEM_SCHEMA_FILTER: Final = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%%'
    AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
"""

_RELS: Final = f"""
WITH rels AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND NOT c.relispartition
      AND c.relname NOT IN ('_bani_flight_chunks', '_bani_flight_runs')
      AND (
            (%(schemas)s::text[] IS NULL AND {_SYSTEM_SCHEMA_FILTER})
            OR n.nspname = ANY(%(schemas)s::text[])
      )
      AND (%(tables)s::text[] IS NULL OR c.relname = ANY(%(tables)s::text[]))
      AND NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_depend d
            WHERE d.classid = 'pg_catalog.pg_class'::regclass
              AND d.objid = c.oid AND d.deptype = 'e'
      )
)
"""  # noqa: S608

#: Puts the selected schemas on the (transaction-local) search path, so the
#: expressions introspection prints (defaults, partial-index predicates,
#: checks) name their types unqualified -- ``'new'::status``, not
#: ``'new'::shop.status`` -- and still mean the same in a target schema whose
#: own search path starts with it.  Types elsewhere stay qualified.
SEARCH_PATH: Final = f"""
SELECT pg_catalog.set_config(
    'search_path',
    COALESCE((
        SELECT string_agg(pg_catalog.quote_ident(n.nspname), ', ' ORDER BY n.nspname)
        FROM pg_catalog.pg_namespace n
        WHERE (%(schemas)s::text[] IS NULL AND {_SYSTEM_SCHEMA_FILTER})
           OR n.nspname = ANY(%(schemas)s::text[])
    ), '') || ', pg_catalog',
    true)
"""  # noqa: S608

#: One row per table: schema, name, kind and the planner's row estimate
#: (-1 when never analysed; a partitioned table sums its leaf partitions).
TABLES: Final = (
    _RELS  # noqa: S608
    + """
SELECT r.nspname, r.relname, r.relkind,
       CASE WHEN r.relkind = 'p' THEN (
            SELECT CASE WHEN bool_and(lc.reltuples < 0) THEN -1
                        ELSE sum(GREATEST(lc.reltuples, 0)) END
            FROM pg_catalog.pg_partition_tree(r.oid) pt
            JOIN pg_catalog.pg_class lc ON lc.oid = pt.relid
            WHERE pt.isleaf)
       ELSE r.reltuples END::float8 AS reltuples
FROM rels r
ORDER BY r.nspname, r.relname
"""
)

#: One row per column of every selected table, in attnum order.  Domains are
#: resolved one level to their base type; arrays give their element type; enum
#: labels come in sort order; a column that owns a sequence (serial or
#: identity) gives the sequence's next value.
COLUMNS: Final = (
    _RELS  # noqa: S608
    + """
SELECT r.nspname, r.relname, a.attnum, a.attname,
       a.attnotnull, a.attidentity, a.attgenerated,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default_expr,
       CASE WHEN t.typtype = 'd'
            THEN pg_catalog.format_type(t.typbasetype, t.typtypmod)
            ELSE pg_catalog.format_type(a.atttypid, a.atttypmod) END AS declared,
       bt.typname, bt.typtype,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       (bt.typcategory = 'A' AND et.oid IS NOT NULL) AS is_array,
       et.typname AS elem_typname, et.typtype AS elem_typtype,
       COALESCE(
           (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
            FROM pg_catalog.pg_enum e
            WHERE e.enumtypid = CASE WHEN bt.typtype = 'e' THEN bt.oid
                                     WHEN et.typtype = 'e' THEN et.oid END),
           '{}'::text[]) AS enum_labels,
       seq.next_value
FROM rels r
JOIN pg_catalog.pg_attribute a
  ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type bt
  ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN LATERAL (
    SELECT CASE
             WHEN pg_catalog.has_sequence_privilege(sc.oid, 'SELECT,USAGE')
                  AND pg_catalog.pg_sequence_last_value(sc.oid) IS NOT NULL
             THEN pg_catalog.pg_sequence_last_value(sc.oid) + s.seqincrement
             ELSE s.seqstart
           END AS next_value
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
    JOIN pg_catalog.pg_sequence s ON s.seqrelid = sc.oid
    WHERE d.classid = 'pg_catalog.pg_class'::regclass
      AND d.refclassid = 'pg_catalog.pg_class'::regclass
      AND d.refobjid = r.oid AND d.refobjsubid = a.attnum
      AND d.deptype IN ('a', 'i')
    LIMIT 1
) seq ON true
ORDER BY r.nspname, r.relname, a.attnum
"""
)

#: Primary keys, foreign keys and checks of every selected table; key
#: columns in constraint order on both sides.  Unique constraints come from
#: :data:`INDEXES` (they are unique indexes).
CONSTRAINTS: Final = (
    _RELS  # noqa: S608
    + """
SELECT r.nspname, r.relname, con.conname, con.contype,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_catalog.pg_attribute a
               ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       rn.nspname AS ref_schema, rc.relname AS ref_table,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_catalog.pg_attribute a
               ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS ref_columns,
       con.confupdtype, con.confdeltype,
       CASE WHEN con.contype = 'c'
            THEN pg_catalog.pg_get_constraintdef(con.oid, true) END AS check_def
FROM rels r
JOIN pg_catalog.pg_constraint con ON con.conrelid = r.oid
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f', 'c')
  AND con.conparentid = 0
ORDER BY r.nspname, r.relname, con.conname
"""
)

#: Every valid secondary index (the primary key's index is on the table):
#: key columns in index order (NULL for an expression), uniqueness, access
#: method and partial predicate.  Indexes of exclusion constraints are left
#: out (they are constraints, not indexes a sink can recreate from columns).
INDEXES: Final = (
    _RELS  # noqa: S608
    + """
SELECT r.nspname, r.relname, ic.relname AS index_name, i.indisunique, am.amname,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
       ARRAY(SELECT a.attname::text
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_catalog.pg_attribute a
               ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.ord <= i.indnkeyatts
             ORDER BY k.ord) AS columns,
       i.indexprs IS NOT NULL AS has_expressions
FROM rels r
JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
WHERE NOT i.indisprimary
  AND i.indisvalid
  AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint x
        WHERE x.conindid = i.indexrelid AND x.contype = 'x')
ORDER BY r.nspname, r.relname, ic.relname
"""
)

#: Enum types of the selected schemas (or of every non-system schema) and any
#: enum a selected table's column uses wherever it lives; labels in order.
ENUM_TYPES: Final = (
    _RELS  # noqa: S608
    + f"""
SELECT n.nspname, t.typname,
       array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid
WHERE (%(schemas)s::text[] IS NULL AND {_SYSTEM_SCHEMA_FILTER})
   OR n.nspname = ANY(%(schemas)s::text[])
   OR t.oid IN (
        SELECT CASE WHEN ct.typtype = 'e' THEN ct.oid ELSE ct.typelem END
        FROM rels r
        JOIN pg_catalog.pg_attribute a
          ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_catalog.pg_type ct ON ct.oid = a.atttypid)
GROUP BY n.nspname, t.typname
ORDER BY n.nspname, t.typname
"""  # noqa: S608
)

#: A target table's columns as the writer needs them to encode binary COPY:
#: base type (domains resolved), array element type and its oid, generated flag.
TARGET_COLUMNS: Final = """
SELECT a.attname, bt.typname, bt.typtype,
       CASE WHEN t.typtype = 'd'
            THEN pg_catalog.format_type(t.typbasetype, t.typtypmod)
            ELSE pg_catalog.format_type(a.atttypid, a.atttypmod) END AS declared,
       (bt.typcategory = 'A' AND et.oid IS NOT NULL) AS is_array,
       et.typname AS elem_typname, et.typtype AS elem_typtype,
       COALESCE(bt.typelem, 0)::int8 AS elem_oid,
       a.attgenerated
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type bt
  ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
WHERE n.nspname = %(schema)s AND c.relname = %(table)s
  AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

#: A target table's columns that own a sequence (identity or serial), with the
#: sequence's qualified name and direction.
TARGET_IDENTITY_COLUMNS: Final = """
SELECT a.attname, sn.nspname AS seq_schema, sc.relname AS seq_name,
       s.seqincrement, s.seqmax
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_depend d
  ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = c.oid
 AND d.refobjsubid = a.attnum AND d.classid = 'pg_catalog.pg_class'::regclass
 AND d.deptype IN ('a', 'i')
JOIN pg_catalog.pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace
JOIN pg_catalog.pg_sequence s ON s.seqrelid = sc.oid
WHERE n.nspname = %(schema)s AND c.relname = %(table)s
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
