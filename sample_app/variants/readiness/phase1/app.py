from flask import Flask
import os
import time
import random

app = Flask(__name__)

@app.route('/')
def hello():
    hostname = os.environ.get('HOSTNAME', 'unknown')
    # 가끔 느린 응답 시뮬레이션
    if random.random() < 0.1:
        time.sleep(2)
    return f'''
    <h1>Hello from {hostname}</h1>
    <p>Request processed successfully!</p>
    <p>Time: {time.strftime('%Y-%m-%d %H:%M:%S')}</p>
    '''

@app.route('/health')
def health():
    return 'OK'

if __name__ == '__main__':
    app.run(host='0.0.0.0', port=5000)
