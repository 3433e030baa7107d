"""aiogram routers, one module per feature; each exposes create_router() -> Router."""
