"""Memory routes, under /api/memory/ (config/urls.py includes them). The literal routes and
`working/...` come before `<uuid:item_id>`, so no name is ever read as an item id."""

from django.urls import path

from memory import api

urlpatterns = [
    path("store", api.MemoryStoreApi.as_view(), name="memory-store"),
    path("search", api.MemorySearchApi.as_view(), name="memory-search"),
    path("embeddings", api.MemoryEmbeddingsApi.as_view(), name="memory-embeddings"),
    path("bulk", api.MemoryBulkApi.as_view(), name="memory-bulk"),
    path("bulk/<uuid:job_id>", api.MemoryBulkJobApi.as_view(), name="memory-bulk-job"),
    path("episodes", api.EpisodesApi.as_view(), name="memory-episodes"),
    path("working/<str:session_id>", api.WorkingMemoryApi.as_view(), name="memory-working"),
    path("<uuid:item_id>", api.MemoryItemApi.as_view(), name="memory-item"),
]
