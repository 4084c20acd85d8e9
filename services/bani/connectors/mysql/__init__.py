"""The MySQL/MariaDB connector (registered as ``mysql`` and ``mariadb``).

Importing this package imports neither pymysql nor connectorx; the
connector imports its drivers when it connects.
"""

from bani.connectors.mysql.connector import MySQLConnector

__all__ = ["MySQLConnector"]
