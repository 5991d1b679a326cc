"""The worker's Faust agents, one module per stage (replay, scoring, sink), wired by stream_agents.app.

Each module turns a stage's core (ReplayStage, Scorer, ScoreSink: no Kafka in them) into an agent
body built from small named functions; `pipeline.Pipeline` is what the agents share.
"""

__all__: list[str] = []
