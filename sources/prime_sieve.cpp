#include <iostream>
#include <vector>

int main() {
    const int limit = 50;
    std::vector<bool> isPrime(limit + 1, true);
    isPrime[0] = false;
    isPrime[1] = false;
    for (int i = 2; i * i <= limit; ++i) {
        if (isPrime[i]) {
            for (int j = i * i; j <= limit; j += i) {
                isPrime[j] = false;
            }
        }
    }
    int count = 0;
    std::cout << "Primes up to " << limit << ":";
    for (int i = 2; i <= limit; ++i) {
        if (isPrime[i]) {
            std::cout << " " << i;
            ++count;
        }
    }
    std::cout << std::endl << "Count: " << count << std::endl;
    return 0;
}
