"""Create or drop one PostgreSQL database for a test run: pg_database.py create|drop SERVER_URL NAME."""

import sys

import sqlalchemy


def main(action: str, server_url: str, name: str) -> int:
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing database name {name!r}")
    engine = sqlalchemy.create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if action == "create":
                connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
                connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
            else:
                connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except sqlalchemy.exc.OperationalError as err:
        print(f"PostgreSQL: {err.orig}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
