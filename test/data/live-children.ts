/**
 * Children as the API server returned them (kube-apiserver 1.20, applied by the controller for the
 * benchmark's CRs), with managedFields, server defaults and, added by hand, the status a running cluster
 * would report. Read by the tests of what the children's caches keep.
 */
export const liveDeployment = {
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
    "annotations": {
      "deployment.kubernetes.io/revision": "1"
    },
    "creationTimestamp": "2026-12-03T14:13:07Z",
    "generation": 1,
    "labels": {
      "agentway.dev/part-of": "16a05be6-3874-4321-927c-65e3950a6e76",
      "agentway.dev/pool": "cpu",
      "app.kubernetes.io/component": "ModelAPI",
      "app.kubernetes.io/instance": "modelapi-llm-00000",
      "app.kubernetes.io/managed-by": "agentway",
      "app.kubernetes.io/name": "modelapi"
    },
    "managedFields": [
      {
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
          "f:metadata": {
            "f:labels": {
              "f:agentway.dev/part-of": {},
              "f:agentway.dev/pool": {},
              "f:app.kubernetes.io/component": {},
              "f:app.kubernetes.io/instance": {},
              "f:app.kubernetes.io/managed-by": {},
              "f:app.kubernetes.io/name": {}
            },
            "f:ownerReferences": {
              "k:{\"uid\":\"16a05be6-3874-4321-927c-65e3950a6e76\"}": {
                ".": {},
                "f:apiVersion": {},
                "f:blockOwnerDeletion": {},
                "f:controller": {},
                "f:kind": {},
                "f:name": {},
                "f:uid": {}
              }
            }
          },
          "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
              "f:metadata": {
                "f:labels": {
                  "f:agentway.dev/pool": {},
                  "f:app.kubernetes.io/component": {},
                  "f:app.kubernetes.io/instance": {},
                  "f:app.kubernetes.io/managed-by": {},
                  "f:app.kubernetes.io/name": {}
                }
              },
              "f:spec": {
                "f:automountServiceAccountToken": {},
                "f:containers": {
                  "k:{\"name\":\"modelapi\"}": {
                    ".": {},
                    "f:args": {},
                    "f:image": {},
                    "f:imagePullPolicy": {},
                    "f:livenessProbe": {
                      "f:failureThreshold": {},
                      "f:httpGet": {
                        "f:path": {},
                        "f:port": {},
                        "f:scheme": {}
                      },
                      "f:periodSeconds": {},
                      "f:successThreshold": {},
                      "f:timeoutSeconds": {}
                    },
                    "f:name": {},
                    "f:ports": {
                      "k:{\"containerPort\":8000,\"protocol\":\"TCP\"}": {
                        ".": {},
                        "f:containerPort": {},
                        "f:name": {},
                        "f:protocol": {}
                      }
                    },
                    "f:readinessProbe": {
                      "f:failureThreshold": {},
                      "f:httpGet": {
                        "f:path": {},
                        "f:port": {},
                        "f:scheme": {}
                      },
                      "f:periodSeconds": {},
                      "f:successThreshold": {},
                      "f:timeoutSeconds": {}
                    },
                    "f:resources": {
                      "f:limits": {
                        "f:memory": {}
                      },
                      "f:requests": {
                        "f:cpu": {},
                        "f:memory": {}
                      }
                    },
                    "f:securityContext": {
                      "f:allowPrivilegeEscalation": {},
                      "f:capabilities": {
                        "f:drop": {}
                      },
                      "f:runAsNonRoot": {},
                      "f:seccompProfile": {
                        "f:type": {}
                      }
                    },
                    "f:startupProbe": {
                      "f:failureThreshold": {},
                      "f:httpGet": {
                        "f:path": {},
                        "f:port": {},
                        "f:scheme": {}
                      },
                      "f:periodSeconds": {},
                      "f:successThreshold": {},
                      "f:timeoutSeconds": {}
                    }
                  }
                },
                "f:enableServiceLinks": {},
                "f:securityContext": {
                  "f:runAsNonRoot": {},
                  "f:seccompProfile": {
                    "f:type": {}
                  }
                }
              }
            }
          }
        },
        "manager": "agentway",
        "operation": "Apply",
        "time": "2026-12-03T14:13:07Z"
      },
      {
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
          "f:metadata": {
            "f:annotations": {
              ".": {},
              "f:deployment.kubernetes.io/revision": {}
            }
          },
          "f:status": {
            "f:conditions": {
              ".": {},
              "k:{\"type\":\"Available\"}": {
                ".": {},
                "f:lastTransitionTime": {},
                "f:lastUpdateTime": {},
                "f:message": {},
                "f:reason": {},
                "f:status": {},
                "f:type": {}
              },
              "k:{\"type\":\"Progressing\"}": {
                ".": {},
                "f:lastTransitionTime": {},
                "f:lastUpdateTime": {},
                "f:message": {},
                "f:reason": {},
                "f:status": {},
                "f:type": {}
              }
            },
            "f:observedGeneration": {}
          }
        },
        "manager": "kube-controller-manager",
        "operation": "Update",
        "time": "2026-12-03T14:13:09Z"
      }
    ],
    "name": "modelapi-llm-00000-cpu",
    "namespace": "bench-memory-cb70fc",
    "ownerReferences": [
      {
        "apiVersion": "agentway.dev/v1alpha1",
        "blockOwnerDeletion": true,
        "controller": true,
        "kind": "ModelAPI",
        "name": "llm-00000",
        "uid": "16a05be6-3874-4321-927c-65e3950a6e76"
      }
    ],
    "resourceVersion": "704",
    "uid": "68ffd5e5-ce72-4889-8154-6f06172c9f98"
  },
  "spec": {
    "progressDeadlineSeconds": 600,
    "replicas": 0,
    "revisionHistoryLimit": 10,
    "selector": {
      "matchLabels": {
        "agentway.dev/pool": "cpu",
        "app.kubernetes.io/instance": "modelapi-llm-00000"
      }
    },
    "strategy": {
      "rollingUpdate": {
        "maxSurge": "25%",
        "maxUnavailable": "25%"
      },
      "type": "RollingUpdate"
    },
    "template": {
      "metadata": {
        "creationTimestamp": null,
        "labels": {
          "agentway.dev/pool": "cpu",
          "app.kubernetes.io/component": "ModelAPI",
          "app.kubernetes.io/instance": "modelapi-llm-00000",
          "app.kubernetes.io/managed-by": "agentway",
          "app.kubernetes.io/name": "modelapi"
        }
      },
      "spec": {
        "automountServiceAccountToken": false,
        "containers": [
          {
            "args": [
              "--model",
              "meta-llama/model-0"
            ],
            "image": "vllm/vllm-openai:v0.6.3",
            "imagePullPolicy": "IfNotPresent",
            "livenessProbe": {
              "failureThreshold": 6,
              "httpGet": {
                "path": "/health",
                "port": "http",
                "scheme": "HTTP"
              },
              "periodSeconds": 10,
              "successThreshold": 1,
              "timeoutSeconds": 1
            },
            "name": "modelapi",
            "ports": [
              {
                "containerPort": 8000,
                "name": "http",
                "protocol": "TCP"
              }
            ],
            "readinessProbe": {
              "failureThreshold": 3,
              "httpGet": {
                "path": "/health",
                "port": "http",
                "scheme": "HTTP"
              },
              "periodSeconds": 5,
              "successThreshold": 1,
              "timeoutSeconds": 1
            },
            "resources": {
              "limits": {
                "memory": "16Gi"
              },
              "requests": {
                "cpu": "4",
                "memory": "16Gi"
              }
            },
            "securityContext": {
              "allowPrivilegeEscalation": false,
              "capabilities": {
                "drop": [
                  "ALL"
                ]
              },
              "runAsNonRoot": true,
              "seccompProfile": {
                "type": "RuntimeDefault"
              }
            },
            "startupProbe": {
              "failureThreshold": 60,
              "httpGet": {
                "path": "/health",
                "port": "http",
                "scheme": "HTTP"
              },
              "periodSeconds": 10,
              "successThreshold": 1,
              "timeoutSeconds": 1
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"
          }
        ],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": false,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {
          "runAsNonRoot": true,
          "seccompProfile": {
            "type": "RuntimeDefault"
          }
        },
        "terminationGracePeriodSeconds": 30
      }
    }
  },
  "status": {
    "observedGeneration": 1,
    "replicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
    "updatedReplicas": 2,
    "conditions": [
      {
        "type": "Available",
        "status": "True",
        "reason": "MinimumReplicasAvailable",
        "message": "Deployment has minimum availability.",
        "lastTransitionTime": "2026-12-03T14:13:09Z",
        "lastUpdateTime": "2026-12-03T14:13:09Z"
      }
    ]
  }
};

export const liveHttpRoute = {
  "apiVersion": "gateway.networking.k8s.io/v1",
  "kind": "HTTPRoute",
  "metadata": {
    "creationTimestamp": "2026-12-03T14:15:31Z",
    "generation": 1,
    "labels": {
      "agentway.dev/part-of": "2de7989e-f077-4e32-872f-f363a71bb082",
      "app.kubernetes.io/component": "MCPServer",
      "app.kubernetes.io/instance": "mcp-mcp-00000",
      "app.kubernetes.io/managed-by": "agentway",
      "app.kubernetes.io/name": "mcp"
    },
    "managedFields": [
      {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
          "f:metadata": {
            "f:labels": {
              "f:agentway.dev/part-of": {},
              "f:app.kubernetes.io/component": {},
              "f:app.kubernetes.io/instance": {},
              "f:app.kubernetes.io/managed-by": {},
              "f:app.kubernetes.io/name": {}
            },
            "f:ownerReferences": {
              "k:{\"uid\":\"2de7989e-f077-4e32-872f-f363a71bb082\"}": {
                ".": {},
                "f:apiVersion": {},
                "f:blockOwnerDeletion": {},
                "f:controller": {},
                "f:kind": {},
                "f:name": {},
                "f:uid": {}
              }
            }
          },
          "f:spec": {
            "f:parentRefs": {},
            "f:rules": {}
          }
        },
        "manager": "agentway",
        "operation": "Apply",
        "time": "2026-12-03T14:15:31Z"
      }
    ],
    "name": "mcp-mcp-00000",
    "namespace": "bench-memory-cb70fc",
    "ownerReferences": [
      {
        "apiVersion": "agentway.dev/v1alpha1",
        "blockOwnerDeletion": true,
        "controller": true,
        "kind": "MCPServer",
        "name": "mcp-00000",
        "uid": "2de7989e-f077-4e32-872f-f363a71bb082"
      }
    ],
    "resourceVersion": "13699",
    "uid": "dde570b0-9770-4286-bf50-391cec2b6dad"
  },
  "spec": {
    "parentRefs": [
      {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "agentway-gateway",
        "namespace": "bench-memory-cb70fc"
      }
    ],
    "rules": [
      {
        "backendRefs": [
          {
            "kind": "Service",
            "name": "mcp-mcp-00000",
            "port": 3000,
            "weight": 0
          }
        ],
        "filters": [
          {
            "type": "URLRewrite",
            "urlRewrite": {
              "path": {
                "replacePrefixMatch": "/",
                "type": "ReplacePrefixMatch"
              }
            }
          }
        ],
        "matches": [
          {
            "path": {
              "type": "PathPrefix",
              "value": "/bench-memory-cb70fc/mcp/mcp-00000"
            }
          }
        ],
        "timeouts": {
          "request": "45s"
        }
      }
    ]
  },
  "status": {
    "parents": [
      {
        "parentRef": {
          "group": "gateway.networking.k8s.io",
          "kind": "Gateway",
          "name": "agentway-gateway",
          "namespace": "bench-memory-cb70fc"
        },
        "controllerName": "example.com/gateway",
        "conditions": [
          {
            "type": "Accepted",
            "status": "True",
            "reason": "Accepted",
            "message": "",
            "observedGeneration": 1,
            "lastTransitionTime": "2026-12-03T14:15:32Z"
          },
          {
            "type": "ResolvedRefs",
            "status": "True",
            "reason": "ResolvedRefs",
            "message": "",
            "observedGeneration": 1,
            "lastTransitionTime": "2026-12-03T14:15:32Z"
          }
        ]
      }
    ]
  }
};
