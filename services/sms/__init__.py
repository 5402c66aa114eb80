"""SMS after the send, shared by the notifier and the acknowledgement service.

* ``pushes``: what Aliyun and Tencent push to duban's callbacks (delivery reports, uplink
  SMS), read into plain records; pure.
* ``awaiting``: deliveries waiting for their delivery report in Redis, matched and settled
  once, with a timer that sends the notice on the person's next channel when the report
  says it failed or does not come in time.
* ``replycodes``: the short codes an SMS asks the recipient to reply with, in Redis.
* ``memory``: in-memory twins of both stores, for fast tests.
"""
