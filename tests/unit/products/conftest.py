import pytest

from unit.products.kit import migrated_sqlite


@pytest.fixture
async def db(tmp_path):
    database = await migrated_sqlite(tmp_path)
    yield database
    await database.dispose()
