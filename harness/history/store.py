"""The results store: one table of runs, one of their records, in SQLite (a file, no set-up) or
a server database named by URL (PostgreSQL for a team), through SQLAlchemy. The schema carries
its version and migrates forward; writes are transactions, so a killed writer leaves the store
as it was, and two writers at once both land (SQLite: WAL journal, immediate write locks and a
busy timeout; PostgreSQL: its own transactions)."""
from __future__ import annotations

import contextlib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from harness.records.errors import StoreError

SCHEMA_VERSION = 1
BUSY_SECONDS = 120  # how long a writer waits for another one's lock

META = sa.MetaData()
INFO = sa.Table("convharness_info", META,
                sa.Column("key", sa.String(64), primary_key=True),
                sa.Column("value", sa.Text, nullable=False))
RUNS = sa.Table(
    "runs", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_key", sa.String(64), nullable=False, unique=True),  # a run's identity
    sa.Column("name", sa.Text, nullable=False),  # its directory's name
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("started", sa.Float, nullable=False),  # seconds since the epoch
    sa.Column("machine", sa.String(16), nullable=False),  # fingerprint (machine_json hashed)
    sa.Column("machine_json", sa.Text, nullable=False),
    sa.Column("command", sa.Text, nullable=False))
RESULTS = sa.Table(
    "results", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("record_key", sa.Text, nullable=False),  # Record.key(): the same across runs
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("impl", sa.Text, nullable=False, index=True),
    sa.Column("op", sa.String(64), nullable=False),
    sa.Column("prop", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("device", sa.String(16), nullable=False),
    sa.Column("dtype", sa.String(16), nullable=False),
    sa.Column("case_label", sa.Text, nullable=False),
    sa.Column("median", sa.Float),
    sa.Column("iqr", sa.Float),
    sa.Column("times", sa.Text, nullable=False),  # the raw samples, a JSON list of seconds
    # per sample, seconds per call spent waiting for a CPU that others held (a JSON list)
    sa.Column("waits", sa.Text, nullable=False),
    sa.Column("steady", sa.Float),  # median of the samples less their waits (on-CPU time)
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("revision", sa.Text, nullable=False),  # the implementation's source revision
    sa.Column("dirty", sa.Boolean, nullable=False),
    sa.Column("branch", sa.Text, nullable=False),
    sa.Column("revision_time", sa.Float),  # the commit's time, where known
    sa.UniqueConstraint("run_id", "record_key", name="one_record_per_key"))
# Forward migrations: MIGRATIONS[n] takes a store at schema version n to n + 1.
MIGRATIONS: dict = {}


def default_store(out_root) -> Path:
    """Where runs are kept unless --store says otherwise: beside the run directories."""
    return Path(out_root) / "history.db"


def url_of(spec) -> str:
    """A store given as a path or a URL, as a SQLAlchemy URL."""
    text = str(spec)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def shown(spec) -> str:
    """A store as it may be printed: a URL's password hidden."""
    text = str(spec)
    if "://" not in text:
        return text
    try:
        return sa.engine.make_url(text).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return text.split("@")[-1] if "@" in text else text


class Store:
    """An open store. `with Store.open(spec) as store:` ... `store.engine` for reads,
    `store.writing()` for one transaction."""

    def __init__(self, engine: sa.Engine, name: str):
        self.engine, self.name = engine, name

    @classmethod
    @contextlib.contextmanager
    def open(cls, spec, create: bool = True):
        url = url_of(spec)
        engine = _engine(url, spec, create)
        store = cls(engine, shown(spec))
        try:
            with store.failures("open"):
                store._ready(create)
            yield store
        finally:
            engine.dispose()

    @contextlib.contextmanager
    def failures(self, doing: str):
        """Database errors as a StoreError naming this store and what was being done."""
        try:
            yield
        except sa_exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(f"results store {self.name!r}: could not {doing} it ({reason})") \
                from exc

    @contextlib.contextmanager
    def writing(self):
        """One transaction: all of it lands, or none of it."""
        with self.failures("write to"), \
                self.engine.execution_options(writing=True).begin() as conn:
            yield conn

    def _ready(self, create: bool) -> None:
        tables = set(sa.inspect(self.engine).get_table_names())
        if INFO.name not in tables:
            if tables & {RUNS.name, RESULTS.name} or (tables and not create):
                raise StoreError(f"results store {self.name!r} holds tables that are not a "
                                 f"convharness store's ({', '.join(sorted(tables))})")
            if not create:
                raise StoreError(f"results store {self.name!r} is empty: no run was stored")
            with self.writing() as conn:  # another process may have made it meanwhile
                META.create_all(conn)
                if conn.execute(sa.select(INFO.c.value)).first() is None:
                    conn.execute(INFO.insert().values(key="schema_version",
                                                      value=str(SCHEMA_VERSION)))
            return
        self._migrate()

    def version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(INFO.c.value).where(
                INFO.c.key == "schema_version")).scalar()
        return int(value or 0)

    def _migrate(self) -> None:
        version = self.version()
        if version > SCHEMA_VERSION:
            raise StoreError(f"results store {self.name!r} has schema version {version}, newer "
                             f"than this convharness reads ({SCHEMA_VERSION}): upgrade "
                             f"convharness to use it (it was left as it is)")
        while version < SCHEMA_VERSION:
            with self.writing() as conn:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(INFO.update().where(INFO.c.key == "schema_version").values(
                    value=str(version)))


def results(store: Store, *, kind: str | None = None, impls=(), op: str | None = None,
            since: float | None = None, run_ids=None, times: bool = False):
    """Stored results joined with their runs, as a pandas frame, one row per record; the raw
    samples (`times`, `waits`: JSON) only when asked, the other filters in SQL."""
    import pandas as pd
    columns = [c for c in RESULTS.c if times or c.name not in ("times", "waits")]
    query = sa.select(*columns, RUNS.c.name.label("run"), RUNS.c.started, RUNS.c.machine,
                      RUNS.c.path).join(RUNS, RUNS.c.id == RESULTS.c.run_id)
    for column, value in ((RESULTS.c.kind, kind), (RESULTS.c.op, op)):
        if value:
            query = query.where(column == value)
    if impls:
        query = query.where(RESULTS.c.impl.in_(list(impls)))
    if since is not None:
        query = query.where(RUNS.c.started >= since)
    if run_ids is not None:
        query = query.where(RESULTS.c.run_id.in_(list(run_ids)))
    with store.failures("read"), store.engine.connect() as conn:
        return pd.read_sql(query, conn)


def runs(store: Store):
    """Every stored run, oldest first, as a pandas frame."""
    import pandas as pd
    with store.failures("read"), store.engine.connect() as conn:
        return pd.read_sql(sa.select(RUNS).order_by(RUNS.c.started, RUNS.c.id), conn)


def _engine(url: str, spec, create: bool) -> sa.Engine:
    if not url.startswith("sqlite"):
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"results store {shown(spec)!r}: {exc} (expected a file path or a "
                             f"URL such as postgresql+psycopg://user@host/db)") from None
    path = Path(url.split("///", 1)[1])
    if not create and not path.is_file():
        raise StoreError(f"results store {str(spec)!r} does not exist (expected the file a "
                         f"run wrote; a run's records import with `convharness history import`)")
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"results store {str(spec)!r}: cannot create its folder ({exc})") \
                from None
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_SECONDS})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn, _record) -> None:
    """WAL: readers never wait for a writer; writers take the lock when they begin (BEGIN
    IMMEDIATE, below), so two writers queue instead of failing to upgrade a read lock."""
    dbapi_conn.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn) -> None:
    writing = conn.get_execution_options().get("writing")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
