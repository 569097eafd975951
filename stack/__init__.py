"""The whole product on one machine: model export, serving replicas, gateway and frontend (`make run`)."""
