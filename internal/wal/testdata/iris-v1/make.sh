# How testdata/iris-v1 was made, with irisd built from commit 1920c3e at /tmp/schema-irisd-main.
set -e
D=/tmp/schema-fx/dir
/tmp/schema-irisd-main -addr 127.0.0.1:18931 -data-dir $D -log-format text > server.log 2>&1 &
PID=$!
for i in $(seq 50); do curl -sf localhost:18931/healthz >/dev/null && break; sleep 0.1; done
U=http://127.0.0.1:18931
j='-H Content-Type:application/json'
curl -sf $U/samples $j -d '{"features":[5.0,3.4,1.5,0.2],"species":"setosa"}' >/dev/null   # 151
curl -sf -X PUT $U/samples/500 $j -d '{"features":[6.1,2.9,4.7,1.4],"species":"versicolor"}' >/dev/null
curl -sf -X PUT $U/samples/3 $j -d '{"features":[0.1,-2.5,1e-9,7.25],"species":"virginica"}' >/dev/null
curl -sf -X DELETE $U/samples/7 >/dev/null
curl -sf -X POST $U/dataset/reset >/dev/null
curl -sf $U/samples $j -d '{"features":[7.7,3.8,6.7,2.2],"species":"virginica"}' >/dev/null  # 501
curl -sf -X DELETE $U/samples/1 >/dev/null
# fill up to the compaction at 1000 records (7 so far): 993 PUTs on id 2
for i in $(seq 993); do
  curl -sf -X PUT $U/samples/2 $j -d "{\"features\":[4.9,3.0,1.4,0.$((i%10))],\"species\":\"setosa\"}" >/dev/null
done
# the log tail after the snapshot
curl -sf $U/samples $j -d '{"features":[6.3,3.3,6.0,2.5],"species":"virginica"}' >/dev/null  # 502
curl -sf -X PUT $U/samples/9000 $j -d '{"features":[5.5,2.5,4.0,1.3],"species":"versicolor"}' >/dev/null
curl -sf -X DELETE $U/samples/50 >/dev/null
curl -sf -X PUT $U/samples/4 $j -d '{"features":[4.6,3.1,1.5,0.25],"species":"setosa"}' >/dev/null
curl -sf $U/dataset > dataset.json
curl -sf "$U/samples?limit=1000" > samples.json
kill $PID; wait $PID || true
ls -la $D
